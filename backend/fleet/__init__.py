"""The fleet on the back end: broker launcher, device credentials, the MQTT bridge, vehicle
state (MDS terms), remote commands and the GBFS feed."""
