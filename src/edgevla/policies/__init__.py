"""edgevla.policies — see DESIGN §2."""
