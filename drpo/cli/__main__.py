"""``python -m drpo.cli``: the drpo command."""

from drpo.cli.main import main

raise SystemExit(main())
