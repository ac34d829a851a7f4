"""Self-supervised learning in the app: pretraining wizard, augmented view pairs, downstream and label efficiency.

:func:`gui.ssl.actions.install` adds the "Self-supervised" menu to the main window.
"""
