"""MLflow tracking stores read directly: the file store (`mlruns/`) and the SQLite store."""
