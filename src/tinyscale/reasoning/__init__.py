"""Seeds 001/002: recursive reasoning models (TRM, HRM) on Sudoku."""
