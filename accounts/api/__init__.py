"""accounts in /api/v1: `driver` (the app, under me/) and `operator` (operators' systems, under operator/)."""
