"""Tables and figures computed from run folders alone (never from live objects)."""
