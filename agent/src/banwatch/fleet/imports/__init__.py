"""`banwatch fleet import`: what a device manager says about its devices, into the fleet store."""
