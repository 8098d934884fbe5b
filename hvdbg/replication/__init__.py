"""hvdbg.replication"""
