"""From a request to processes run: matrix, profiles, schedule, estimates, resume, the run itself."""
