"""The Study menu: new, resume and open studies (grids of runs run as one job), and their results view."""
