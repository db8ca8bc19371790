"""edgevla.serve — see DESIGN §2."""
