"""What this machine is and has, seen from the parent: identity, environment, frameworks and devices,
peaks."""
