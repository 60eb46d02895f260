"""Recurrent cells: one time step each; methods do the scanning."""

from snapsweep.rtrl.cells.base import Cell, input_drive
from snapsweep.rtrl.cells.gru import GRU
from snapsweep.rtrl.cells.lstm import LSTM
from snapsweep.rtrl.cells.rnn import RNN

CELLS = {"gru": GRU, "lstm": LSTM, "rnn": RNN}


def get_cell(name: str) -> Cell:
    return CELLS[name]  # ModelConfig has already validated the name


__all__ = ["Cell", "CELLS", "GRU", "LSTM", "RNN", "get_cell", "input_drive"]
