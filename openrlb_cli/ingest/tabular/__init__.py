"""Generic tables: CSV and JSON lines, long and wide, and the column roles they share."""
