"""edgevla.evaluate — see DESIGN §2."""
