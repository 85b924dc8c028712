"""Devices that cannot run the agent, reached through their managers (Android Management API,
Apple MDM, Intune, Santa): who reaches whom, each manager's documents, and what each can enforce."""
