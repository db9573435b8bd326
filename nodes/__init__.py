"""The steps of DRPO, one small node function per module (each callable alone in a test)."""
