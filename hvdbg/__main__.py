from hvdbg.cli.main import main

raise SystemExit(main())
