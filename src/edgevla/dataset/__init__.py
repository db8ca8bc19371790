"""edgevla.dataset — see DESIGN §2.

LeRobot v3.0 datasets without LeRobot: `writer.DatasetWriter` (crash-safe recording),
`reader.DatasetReader` (numpy frames, decoded video), `calibration` (calibration backups).
Nothing is imported here, so `edgevla calib` stays light on the device install.
"""
