"""edgevla.dataset — see DESIGN §2."""
