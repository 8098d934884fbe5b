"""hvdbg.machine"""
