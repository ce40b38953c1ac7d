"""Instruction sets: each is a list of layers built from the blocks in looped/blocks.py."""
