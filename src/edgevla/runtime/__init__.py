"""edgevla.runtime — see DESIGN §2."""
