// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockUSDT (tests only)
/// @notice USDT as on BSC: 18 decimals. Anyone can mint.
contract MockUSDT is ERC20 {
    constructor() ERC20("Tether USD (mock)", "USDT") {}

    /// @notice Mint `amount` base units to `to`.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
