"""edgevla.sim — see DESIGN §2."""
