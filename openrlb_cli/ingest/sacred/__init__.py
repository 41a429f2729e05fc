"""Sacred FileStorageObserver run folders, read without Sacred installed."""
