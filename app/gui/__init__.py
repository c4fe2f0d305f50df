"""PortraitCam's Qt (PySide6) user interface. Only wires the app/ stages to widgets."""
