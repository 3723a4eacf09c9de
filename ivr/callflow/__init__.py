"""The conversation: call state, caller input, prompts and TwiML, and the decisions of each step, as
functions of (phonebook, state, input, instant). No Flask."""
