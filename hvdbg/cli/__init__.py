"""hvdbg.cli"""
