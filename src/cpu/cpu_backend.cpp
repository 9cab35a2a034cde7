// Written by the lead: CPU backend core.
