"""hvdbg.gdbstub"""
