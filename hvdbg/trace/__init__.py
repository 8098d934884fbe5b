"""hvdbg.trace"""
