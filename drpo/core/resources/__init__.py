"""core/resources"""
