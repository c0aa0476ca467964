// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
contract Probe is EIP712 { constructor() EIP712("FastPay", "1") {} function f(bytes32 h, bytes calldata s) external pure returns (address) { return ECDSA.recover(h, s); } }
