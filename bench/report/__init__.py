"""Pages, figures and exports, regenerated from stored runs alone."""
