"""Data in and out: CSV and JSON imports, CSV exports, the move from the old Flask system, and the demo
seed."""
