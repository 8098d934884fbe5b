"""hvdbg.cpu"""
