"""What waits: jobs, their store, the fair order, the scheduler that runs them on an executor, and their files."""
