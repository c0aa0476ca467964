// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FreezableToken (tests only)
/// @notice A 6-decimals token whose issuer can freeze an address (as USDT/USDC issuers can):
///         every transfer from or to a frozen address reverts. Anyone can mint and freeze.
contract FreezableToken is ERC20 {
    mapping(address account => bool) public frozen;

    error AccountFrozen(address account);

    constructor() ERC20("Freezable USD (mock)", "FRZ") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setFrozen(address account, bool value) external {
        frozen[account] = value;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (frozen[from]) revert AccountFrozen(from);
        if (frozen[to]) revert AccountFrozen(to);
        super._update(from, to, value);
    }
}
