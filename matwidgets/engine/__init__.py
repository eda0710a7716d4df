"""Pure computation: torch, pymatgen, ASE. Never imports widget libraries."""
