"""hvdbg.machine: the B160L-class board (memory map, firmware loading, devices,
Environment) and the solo run loop."""
