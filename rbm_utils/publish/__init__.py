"""The quarterly batch: jobs, runners (local and Dask), HTML copies, atomic publication."""
