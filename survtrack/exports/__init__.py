"""Standard interchange formats of the selected contracts: OCDS release packages (ocds.py) and
FollowTheMoney entities (ftm.py), read from the warehouse with the dashboard's filters."""
