"""Substrates turn a plan into reachable hosts: lab (embedded), openstack, baremetal."""
