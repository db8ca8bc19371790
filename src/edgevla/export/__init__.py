"""edgevla.export — see DESIGN §2."""
