"""sebench: learning synthetic environments and reward networks for RL."""
__version__ = "0.1.0"
