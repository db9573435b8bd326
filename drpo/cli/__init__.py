"""The command line: ``drpo`` (main.py) and one module per command group; imports every layer
below it (.importlinter)."""
