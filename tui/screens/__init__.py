"""The app's screens: setup (main), live run, saved results, training form, help."""
