from snapsweep.cli import main

raise SystemExit(main())
