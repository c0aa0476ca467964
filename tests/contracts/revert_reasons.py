"""Expected revert strings and rejection reasons for custom errors.

Brownie decodes a custom error revert as "Name: arg1, arg2" (the ABI of every compiled
contract is known to it), so `brownie.reverts(error("TokenNotListed", token))` asserts the
error AND its arguments.
"""

from eth_utils import function_signature_to_4byte_selector


def error(name, *args):
    return f"{name}: {', '.join(str(_decoded(a)) for a in args)}"


def _decoded(value):
    # brownie's decoder gives addresses as lowercase hex str and bytesN as bytes
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    text = str(value)
    return text.lower() if text.startswith("0x") and len(text) == 42 else text


def selector(name):
    """bytes4 selector of a parameterless custom error, e.g. selector("BelowQuorum")."""
    return function_signature_to_4byte_selector(f"{name}()")


def selector_of(signature):
    """bytes4 selector of any error signature, e.g. "InsufficientPool(address,uint256,uint256)"."""
    return function_signature_to_4byte_selector(signature)


def certificate_invalid(reason_name):
    return error("CertificateInvalid", selector(reason_name))


def unauthorized(account, role):
    return error("AccessControlUnauthorizedAccount", account, role)
