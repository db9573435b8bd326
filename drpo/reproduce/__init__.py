"""`drpo reproduce TABLE`: a paper table from one command (plan, runs, evaluation, table)."""
